terraform {
  required_version = ">= 1.11.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.80"
    }
  }

  # Remote state in S3, locked by S3's own lock file (use_lockfile, Terraform >= 1.11); the
  # settings are given at init time: environments/production.s3.tfbackend for production,
  # backend.hcl.example for a stage of your own.
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
