data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  # The generated alarms (slo_alarms.tf.json) and the operational ones notify this topic.
  alarm_topic_arn = var.alarm_topic_arn != "" ? var.alarm_topic_arn : aws_sns_topic.alarms.arn
  site_origin     = "https://${aws_cloudfront_distribution.site.domain_name}"
  image_uri       = "${aws_ecr_repository.model_server.repository_url}:${var.model_version}"
  model_key       = "mobilenetv2-int8/${var.model_version}/model.tar.gz"
  lambda_key      = "proxy/${var.model_version}/bootstrap.zip"
  # The dimension values the generated SLO alarms and the dashboard watch (`slo generate
  # --terraform-dimension NAME`): one source, so overriding endpoint_name or model_name moves
  # every alarm and widget with the services.
  metric_dimensions = {
    ApiId        = aws_apigatewayv2_api.http.id
    Endpoint     = aws_sagemaker_endpoint.model.name
    EndpointName = aws_sagemaker_endpoint.model.name
    Model        = var.model_name
    Stage        = aws_apigatewayv2_stage.default.name
  }
}

# One customer-managed key for the stack's data at rest: model artifacts, the image repository,
# log groups and the alarm topic (CloudWatch can publish to an encrypted topic only with a
# customer-managed key that lets it).
resource "aws_kms_key" "main" {
  description             = "${var.name_prefix}: model artifacts, images, logs, alarm topic"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.kms_key.json
}

resource "aws_kms_alias" "main" {
  name          = "alias/${var.name_prefix}"
  target_key_id = aws_kms_key.main.key_id
}

# A key policy's resource "*" means the key itself.
data "aws_iam_policy_document" "kms_key" {
  statement {
    sid       = "AccountAdministers"
    actions   = ["kms:*"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }
  }

  statement {
    sid       = "CloudWatchAlarmsPublishToTheTopic"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = ["*"]
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

  statement {
    sid       = "LogsEncryptTheirGroups"
    actions   = ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["logs.${var.region}.amazonaws.com"]
    }
    condition {
      test     = "ArnLike"
      variable = "kms:EncryptionContext:aws:logs:arn"
      values   = ["arn:${local.partition}:logs:${var.region}:${local.account_id}:log-group:*"]
    }
  }
}
