# The model server on a SageMaker Serverless endpoint. The model and the endpoint configuration
# are named by model_version and replaced before the old ones go, so a rollback is an apply
# with the previous model_version; the endpoint itself keeps its name (the proxy and the SLOs
# use it).

resource "aws_iam_role" "sagemaker" {
  name_prefix        = "${var.name_prefix}-sagemaker-"
  assume_role_policy = data.aws_iam_policy_document.sagemaker_assume.json
}

data "aws_iam_policy_document" "sagemaker_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["sagemaker.amazonaws.com"]
    }
  }
}

resource "aws_iam_role_policy" "sagemaker" {
  name   = "serve-the-model"
  role   = aws_iam_role.sagemaker.id
  policy = data.aws_iam_policy_document.sagemaker.json
}

data "aws_iam_policy_document" "sagemaker" {
  statement {
    sid       = "PullTheImage"
    actions   = ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"]
    resources = [aws_ecr_repository.model_server.arn]
  }

  statement {
    # ECR's login supports no resource-level permission: "*" is the only resource it accepts.
    # It grants a registry token only; what may be pulled is the statement above.
    sid       = "LogInToEcr"
    actions   = ["ecr:GetAuthorizationToken"]
    resources = ["*"]
  }

  statement {
    sid       = "ReadTheModel"
    actions   = ["s3:GetObject"]
    resources = ["${aws_s3_bucket.models.arn}/mobilenetv2-int8/*"]
  }

  statement {
    sid       = "DecryptTheModelAndImage"
    actions   = ["kms:Decrypt"]
    resources = [aws_kms_key.main.arn]
  }

  statement {
    sid = "WriteContainerLogs"
    actions = [
      "logs:CreateLogGroup",
      "logs:CreateLogStream",
      "logs:PutLogEvents",
      "logs:DescribeLogStreams",
    ]
    resources = [
      aws_cloudwatch_log_group.endpoint.arn,
      "${aws_cloudwatch_log_group.endpoint.arn}:*",
    ]
  }

  statement {
    # The container uploads its spans itself (TRACES_EXPORT below): Serverless endpoints run
    # no X-Ray daemon. X-Ray has no resource-level permissions: "*" is the only resource.
    sid       = "SendTraces"
    actions   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
    resources = ["*"]
  }
}

resource "aws_sagemaker_model" "model" {
  name               = "${var.name_prefix}-${var.model_version}"
  execution_role_arn = aws_iam_role.sagemaker.arn
  # No enable_network_isolation: SageMaker Serverless Inference refuses it (as it refuses VPC
  # configs and data capture), and the container sends its X-Ray segments to the X-Ray API.

  primary_container {
    image          = local.image_uri
    mode           = "SingleModel"
    model_data_url = "s3://${aws_s3_bucket.models.id}/${local.model_key}"
    environment = {
      MODEL_NAME = var.model_name
      RUST_LOG   = "info,ort=warn"
      # Serverless endpoints run no X-Ray daemon: the container sends its segments itself
      # with PutTraceSegments, which needs the network (one reason the model does not run
      # with enable_network_isolation). They hang from the proxy's SageMaker.InvokeEndpoint
      # subsegment, whose context comes in through CustomAttributes.
      TRACES_EXPORT     = "xray-api"
      METRICS_NAMESPACE = "MlInference"
    }
  }

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_sagemaker_endpoint_configuration" "serverless" {
  name = "${var.name_prefix}-${var.model_version}"

  production_variants {
    variant_name = "AllTraffic"
    model_name   = aws_sagemaker_model.model.name

    serverless_config {
      memory_size_in_mb       = var.serverless_memory_mb
      max_concurrency         = var.serverless_max_concurrency
      provisioned_concurrency = var.serverless_provisioned_concurrency > 0 ? var.serverless_provisioned_concurrency : null
    }
  }

  lifecycle {
    create_before_destroy = true
  }
}

# SageMaker writes the container's stdout here; created first so that it has a retention and
# the stack's key, and goes with the stack instead of outliving it.
resource "aws_cloudwatch_log_group" "endpoint" {
  name              = "/aws/sagemaker/Endpoints/${var.endpoint_name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.main.arn
}

resource "aws_sagemaker_endpoint" "model" {
  name                 = var.endpoint_name
  endpoint_config_name = aws_sagemaker_endpoint_configuration.serverless.name

  depends_on = [aws_cloudwatch_log_group.endpoint]
}
