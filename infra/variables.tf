variable "region" {
  description = "AWS region of the whole stack."
  type        = string
  default     = "eu-west-1"
}

variable "name_prefix" {
  description = "Prefix of every resource name (one per stage, e.g. prod, staging)."
  type        = string
  default     = "ml-inference"

  # 22 at most: with the longest model_version, "<name_prefix>-<model_version>" names SageMaker's
  # model and endpoint configuration (63 at most); IAM role prefixes (38) and bucket prefixes
  # (37) fit too. No double dashes: ECR repository names refuse them.
  validation {
    condition     = can(regex("^[a-z](-?[a-z0-9])+$", var.name_prefix)) && length(var.name_prefix) <= 22
    error_message = "name_prefix: 2-22 lowercase letters, digits and single dashes, starting with a letter and not ending with a dash."
  }

  # S3 reserves bucket names starting with these ("General purpose bucket naming rules").
  validation {
    condition     = !startswith("${var.name_prefix}-", "sthree-") && !startswith("${var.name_prefix}-", "amzn-s3-demo-")
    error_message = "name_prefix: S3 refuses bucket names starting with sthree- or amzn-s3-demo-."
  }
}

variable "model_version" {
  description = "Version of the deployable, e.g. 202611251200-83530ad1 (the deploy's UTC time and commit). Names the SageMaker model and endpoint configuration, the image tag, and the S3 keys of the model artifact and the proxy's Lambda zip. Roll back by applying the previous value (the rollback workflow)."
  type        = string

  # SageMaker names end with a letter or digit; the image tag and the S3 key take the same.
  validation {
    condition     = can(regex("^[A-Za-z0-9](-*[A-Za-z0-9])*$", var.model_version)) && length(var.model_version) <= 40
    error_message = "model_version: up to 40 letters, digits and dashes, not starting or ending with a dash (it becomes part of SageMaker names)."
  }
}

variable "endpoint_name" {
  description = "SageMaker endpoint name; also the proxy's Endpoint metric dimension, which the SLO specs (slo/specs) name."
  type        = string
  default     = "mobilenet"

  validation {
    condition     = can(regex("^[A-Za-z0-9](-*[A-Za-z0-9])*$", var.endpoint_name)) && length(var.endpoint_name) <= 63
    error_message = "endpoint_name: up to 63 letters, digits and dashes, not starting or ending with a dash (SageMaker's rule)."
  }
}

variable "model_name" {
  description = "Model metric dimension of the model server (MODEL_NAME), as the SLO specs name it."
  type        = string
  default     = "mobilenetv2-int8"

  validation {
    condition     = can(regex("^[A-Za-z0-9][A-Za-z0-9._-]*$", var.model_name)) && length(var.model_name) <= 64
    error_message = "model_name: up to 64 letters, digits, dots, underscores and dashes."
  }
}

variable "serverless_memory_mb" {
  description = "Memory of each serverless endpoint instance."
  type        = number
  default     = 2048

  validation {
    condition     = contains([1024, 2048, 3072, 4096, 5120, 6144], var.serverless_memory_mb)
    error_message = "serverless_memory_mb: one of 1024, 2048, 3072, 4096, 5120, 6144."
  }
}

variable "serverless_max_concurrency" {
  description = "Most concurrent invocations of the serverless endpoint."
  type        = number
  default     = 10

  validation {
    condition     = var.serverless_max_concurrency >= 1 && var.serverless_max_concurrency <= 200
    error_message = "serverless_max_concurrency: 1 to 200."
  }
}

variable "serverless_provisioned_concurrency" {
  description = "Instances kept warm (0: none). Raise it when the cold-start SLOs burn."
  type        = number
  default     = 0

  validation {
    condition     = var.serverless_provisioned_concurrency >= 0 && var.serverless_provisioned_concurrency <= var.serverless_max_concurrency
    error_message = "serverless_provisioned_concurrency: 0 to serverless_max_concurrency."
  }
}

variable "lambda_memory_mb" {
  description = "Memory of the proxy Lambda."
  type        = number
  default     = 256

  validation {
    condition     = var.lambda_memory_mb >= 128 && var.lambda_memory_mb <= 10240
    error_message = "lambda_memory_mb: 128 to 10240."
  }
}

variable "lambda_timeout_s" {
  description = "Proxy Lambda timeout; above the proxy's UPSTREAM_TIMEOUT_MS (9 s) and within API Gateway's 30 s."
  type        = number
  default     = 10

  validation {
    condition     = var.lambda_timeout_s >= 10 && var.lambda_timeout_s <= 29
    error_message = "lambda_timeout_s: 10 to 29 (the proxy gives up upstream after 9 s; API Gateway after 30 s)."
  }
}

variable "lambda_reserved_concurrency" {
  description = "Concurrency reserved for (and capping) the proxy Lambda."
  type        = number
  default     = 50

  validation {
    condition     = var.lambda_reserved_concurrency >= 1
    error_message = "lambda_reserved_concurrency: at least 1."
  }
}

variable "max_image_bytes" {
  description = "Largest image the proxy accepts (MAX_IMAGE_BYTES); the page shrinks larger photos first. SageMaker Serverless takes at most 4 MiB."
  type        = number
  default     = 4194304

  validation {
    condition     = var.max_image_bytes >= 65536 && var.max_image_bytes <= 4194304
    error_message = "max_image_bytes: 64 KiB to 4 MiB (the SageMaker Serverless payload limit)."
  }
}

variable "api_throttle_rate" {
  description = "Steady requests per second API Gateway lets through to the proxy."
  type        = number
  default     = 50
}

variable "api_throttle_burst" {
  description = "Burst of requests API Gateway lets through."
  type        = number
  default     = 100
}

variable "log_retention_days" {
  description = "Retention of every log group (Lambda, API access logs)."
  type        = number
  default     = 30

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days: a value CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, 60, 90, ...)."
  }
}

variable "alarm_email" {
  description = "Email subscribed to the alarm topic (empty: none; confirm the subscription mail)."
  type        = string
  default     = ""

  validation {
    condition     = var.alarm_email == "" || can(regex("^[^@ ]+@[^@ ]+$", var.alarm_email))
    error_message = "alarm_email: an email address, or empty."
  }
}

variable "alarm_topic_arn" {
  description = "An existing SNS topic for the alarms (e.g. the on-call pager's); empty: the topic created here."
  type        = string
  default     = ""

  validation {
    condition     = var.alarm_topic_arn == "" || can(regex("^arn:aws[a-z-]*:sns:", var.alarm_topic_arn))
    error_message = "alarm_topic_arn: an SNS topic ARN, or empty."
  }
}

variable "runbook_base_url" {
  description = "Where runbooks/ is browsable (alarm descriptions and the dashboard link to it)."
  type        = string
  default     = "https://github.com/example/ml-inference/blob/main/runbooks"

  validation {
    condition     = can(regex("^https://", var.runbook_base_url)) && !endswith(var.runbook_base_url, "/")
    error_message = "runbook_base_url: an https URL without a trailing slash."
  }
}
