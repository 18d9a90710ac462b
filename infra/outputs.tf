output "site_url" {
  description = "The prediction page."
  value       = local.site_origin
}

output "api_url" {
  description = "Base URL of the API (POST /predict)."
  value       = aws_apigatewayv2_api.http.api_endpoint
}

output "endpoint_name" {
  description = "SageMaker endpoint the proxy calls."
  value       = aws_sagemaker_endpoint.model.name
}

output "dashboard_url" {
  description = "The service dashboard."
  value       = "https://${var.region}.console.aws.amazon.com/cloudwatch/home?region=${var.region}#dashboards/dashboard/${aws_cloudwatch_dashboard.service.dashboard_name}"
}

output "ecr_repository_url" {
  description = "Push model-server images here, tagged with model_version."
  value       = aws_ecr_repository.model_server.repository_url
}

output "model_artifact_uri" {
  description = "Upload model.tar.gz here before applying a new model_version."
  value       = "s3://${aws_s3_bucket.models.id}/${local.model_key}"
}

output "lambda_zip_uri" {
  description = "Upload the proxy's bootstrap.zip (scripts/build-lambda.sh) here before applying a new model_version."
  value       = "s3://${aws_s3_bucket.models.id}/${local.lambda_key}"
}

output "site_bucket" {
  description = "Bucket of the page's files."
  value       = aws_s3_bucket.site.id
}

output "cloudfront_distribution_id" {
  description = "Distribution to invalidate after a deploy."
  value       = aws_cloudfront_distribution.site.id
}

output "model_version" {
  description = "The model and container version being served (roll back by applying the previous one)."
  value       = var.model_version
}
