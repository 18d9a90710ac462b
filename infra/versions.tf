terraform {
  required_version = ">= 1.6.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.80"
    }
  }

  # Remote state in S3 with a DynamoDB lock table; the bucket, key, table and region are given
  # at init time: terraform init -backend-config=backend.hcl (see backend.hcl.example).
  backend "s3" {}
}

provider "aws" {
  region = var.region

  default_tags {
    tags = {
      project    = "ml-inference"
      managed-by = "terraform"
      stage      = var.name_prefix
    }
  }
}
