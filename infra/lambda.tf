# The proxy: Lambda (provided.al2023, arm64) behind the HTTP API.

locals {
  lambda_name = "${var.name_prefix}-proxy"
}

resource "aws_cloudwatch_log_group" "proxy" {
  name              = "/aws/lambda/${local.lambda_name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.main.arn
}

resource "aws_iam_role" "proxy" {
  name_prefix        = "${var.name_prefix}-proxy-"
  assume_role_policy = data.aws_iam_policy_document.lambda_assume.json
}

data "aws_iam_policy_document" "lambda_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

resource "aws_iam_role_policy" "proxy" {
  name   = "invoke-the-endpoint"
  role   = aws_iam_role.proxy.id
  policy = data.aws_iam_policy_document.proxy.json
}

data "aws_iam_policy_document" "proxy" {
  statement {
    sid       = "InvokeTheEndpoint"
    actions   = ["sagemaker:InvokeEndpoint"]
    resources = [aws_sagemaker_endpoint.model.arn]
  }

  statement {
    sid       = "WriteItsOwnLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.proxy.arn}:*"]
  }

  statement {
    # X-Ray has no resource-level permissions.
    sid       = "SendTraces"
    actions   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
    resources = ["*"]
  }
}

resource "aws_lambda_function" "proxy" {
  function_name = local.lambda_name
  role          = aws_iam_role.proxy.arn
  runtime       = "provided.al2023"
  architectures = ["arm64"]
  handler       = "bootstrap"
  # The zip of this model_version (the deploy uploads it beside the model artifact), so a
  # version names the whole deployable and a rollback needs no build.
  s3_bucket   = aws_s3_bucket.models.id
  s3_key      = local.lambda_key
  memory_size = var.lambda_memory_mb
  timeout     = var.lambda_timeout_s
  # Caps what one traffic spike can cost and what it can send to the endpoint.
  reserved_concurrent_executions = var.lambda_reserved_concurrency

  tracing_config {
    mode = "Active"
  }

  logging_config {
    log_format = "Text" # the proxy writes JSON lines and EMF records itself
    log_group  = aws_cloudwatch_log_group.proxy.name
  }

  environment {
    variables = {
      SAGEMAKER_ENDPOINT_NAME = aws_sagemaker_endpoint.model.name
      ALLOWED_ORIGINS         = local.site_origin
      MAX_IMAGE_BYTES         = tostring(var.max_image_bytes)
      METRICS_NAMESPACE       = "MlInference"
      RUST_LOG                = "info"
    }
  }

  depends_on = [aws_iam_role_policy.proxy]
}
