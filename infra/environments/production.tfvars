# The production stage's settings: every workflow that plans, applies or destroys passes this
# file (-var-file=environments/production.tfvars), so a rollback or a destroy cannot fall back
# to defaults. model_version is given per run; the alarm e-mail and the runbook URL come from
# the repository's settings as TF_VAR_alarm_email and TF_VAR_runbook_base_url (see README).
region      = "eu-west-1"
name_prefix = "ml-inference"
