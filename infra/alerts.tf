# Where alarms go: an encrypted topic (CloudWatch publishes with the stack's key), optionally
# mailed; or an existing topic (var.alarm_topic_arn). The SLO alarms are generated into
# slo_alarms.tf.json by `slo generate alarms`; the operational ones below catch what the
# services' own metrics cannot: a proxy that crashed or was throttled emits no EMF record.

resource "aws_sns_topic" "alarms" {
  name              = "${var.name_prefix}-alarms"
  kms_master_key_id = aws_kms_key.main.id
}

resource "aws_sns_topic_policy" "alarms" {
  arn    = aws_sns_topic.alarms.arn
  policy = data.aws_iam_policy_document.alarms_topic.json
}

data "aws_iam_policy_document" "alarms_topic" {
  statement {
    sid       = "CloudWatchPublishes"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.alarms.arn]
    principals {
      type        = "Service"
      identifiers = ["cloudwatch.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_sns_topic_subscription" "email" {
  count     = var.alarm_email == "" ? 0 : 1
  topic_arn = aws_sns_topic.alarms.arn
  protocol  = "email"
  endpoint  = var.alarm_email
}

resource "aws_cloudwatch_metric_alarm" "proxy_lambda_errors" {
  alarm_name          = "${var.name_prefix}-proxy-lambda-errors"
  alarm_description   = "Operational, page: the proxy Lambda failed (crash, timeout or out of memory) in 2 of the last 3 minutes; such requests emit no EMF record, so the availability SLO cannot see them. Runbook: ${var.runbook_base_url}/proxy-lambda-errors.md"
  namespace           = "AWS/Lambda"
  metric_name         = "Errors"
  dimensions          = { FunctionName = aws_lambda_function.proxy.function_name }
  statistic           = "Sum"
  period              = 60
  evaluation_periods  = 3
  datapoints_to_alarm = 2
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [local.alarm_topic_arn]
  ok_actions          = [local.alarm_topic_arn]
}

resource "aws_cloudwatch_metric_alarm" "proxy_lambda_throttles" {
  alarm_name          = "${var.name_prefix}-proxy-lambda-throttles"
  alarm_description   = "Operational, ticket: invocations of the proxy Lambda were throttled at its reserved concurrency in 3 of the last 5 minutes; API Gateway answered 429/500 for them. Runbook: ${var.runbook_base_url}/proxy-lambda-throttles.md"
  namespace           = "AWS/Lambda"
  metric_name         = "Throttles"
  dimensions          = { FunctionName = aws_lambda_function.proxy.function_name }
  statistic           = "Sum"
  period              = 60
  evaluation_periods  = 5
  datapoints_to_alarm = 3
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [local.alarm_topic_arn]
  ok_actions          = [local.alarm_topic_arn]
}

resource "aws_cloudwatch_metric_alarm" "endpoint_5xx" {
  alarm_name          = "${var.name_prefix}-endpoint-5xx"
  alarm_description   = "Operational, page: the SageMaker endpoint answered 5xx to more than 5 invocations in each of the last 3 minutes (the container failing, or SageMaker itself). Runbook: ${var.runbook_base_url}/endpoint-5xx.md"
  namespace           = "AWS/SageMaker"
  metric_name         = "Invocation5XXErrors"
  dimensions          = { EndpointName = aws_sagemaker_endpoint.model.name, VariantName = "AllTraffic" }
  statistic           = "Sum"
  period              = 60
  evaluation_periods  = 3
  datapoints_to_alarm = 3
  threshold           = 5
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [local.alarm_topic_arn]
  ok_actions          = [local.alarm_topic_arn]
}
