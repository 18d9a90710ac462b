#!/usr/bin/env bash
# Checks of infra/, each printing what it did:
#   1. terraform fmt -check;
#   2. terraform init + validate with the real AWS provider from /opt/tf-plugins;
#   3. the deploy's two applies, a plan with another endpoint name, and destroy, against
#      moto_server (the AWS API emulator) on a free loopback port: every resource moto can create
#      must apply, and destroy must leave nothing;
#   4. checkov with the skips and their reasons in infra/.checkov.yaml.
# Steps 2 and 3 run on a copy of infra/ in a temporary directory (the provider-endpoint override
# and the local state never touch infra/); they are skipped, saying so, where /opt/tf-plugins has
# no provider, as `terraform init` cannot download one here. checkov comes from PyPI into a
# git-ignored virtual environment.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

CHECKOV_VERSION="${CHECKOV_VERSION:-3.3.30}"
MOTO_VERSION="${MOTO_VERSION:-5.2.1}"
cache="${PROJECT_CACHE_DIR:-$root/.cache}"
plugins="${TF_PLUGIN_DIR:-/opt/tf-plugins}"
export TF_CLI_CONFIG_FILE=/dev/null TF_IN_AUTOMATION=1 CHECKPOINT_DISABLE=1
say() { echo "check-infra: $*" >&2; }

if command -v terraform >/dev/null; then
  terraform fmt -check -recursive infra
  say "terraform fmt: ok"
else
  say "terraform is not installed; skipping terraform fmt, validate and the moto apply"
fi

# Resources moto 5.2 cannot create, with the reason; everything else must apply.
declare -A excluded_types=(
  [aws_cloudfront_response_headers_policy]="moto has no CreateResponseHeadersPolicy (404); the distribution is applied without response_headers_policy_id"
  [aws_cloudwatch_composite_alarm]="moto stores composite alarms but DescribeAlarms never returns them, so the provider waits for them until it times out"
)

# Applied last and destroyed first: moto enforces a bucket policy's Deny statements without
# evaluating their conditions, so the TLS-only deny (aws:SecureTransport false) refuses every
# later upload and deletion, although these requests do use TLS.
late_type=aws_s3_bucket_policy

if command -v terraform >/dev/null && [ -n "$(ls -A "$plugins/registry.terraform.io/hashicorp/aws" 2>/dev/null)" ]; then
  work="$(mktemp -d)"
  moto_pid=""
  cleanup() {
    if [ -n "$moto_pid" ]; then kill "$moto_pid" 2>/dev/null || true; wait "$moto_pid" 2>/dev/null || true; fi
    rm -rf "$work"
  }
  trap cleanup EXIT
  # infra/ reads ../dashboards and ../frontend.
  cp -r infra dashboards frontend "$work/"
  rm -rf "$work/infra/.terraform" "$work/infra/.terraform.lock.hcl" "$work/infra/terraform.tfstate"*
  tf() { timeout "$1" terraform -chdir="$work/infra" "${@:2}"; }
  # The three resources that took longest in terraform's logs ($1: Creation or Destruction).
  slowest() {
    grep -ho "^[^ ]*: $1 complete after [0-9ms]*" "${@:2}" |
      awk '{ d = $NF; m = 0; if (d ~ /m/) { split(d, p, "m"); m = p[1]; d = p[2] } sub("s", "", d); print m * 60 + d, $1 }' |
      sort -n | tail -3 | awk '{ printf "%s %d s; ", $2, $1 }'
  }

  start=$SECONDS
  tf 120 init -backend=false -input=false -plugin-dir="$plugins" >/dev/null
  tf 120 validate -no-color >/dev/null
  say "terraform validate: ok (provider $(ls "$plugins/registry.terraform.io/hashicorp/aws"), $((SECONDS - start)) s)"

  if ! command -v moto_server >/dev/null; then
    venv="$cache/moto-$MOTO_VERSION"
    if [ ! -x "$venv/bin/moto_server" ]; then
      say "installing moto[server]==$MOTO_VERSION from PyPI into $venv"
      python3 -m venv "$venv"
      "$venv/bin/pip" install --quiet --disable-pip-version-check "moto[server]==$MOTO_VERSION" >&2
    fi
    PATH="$venv/bin:$PATH"
  fi
  port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
  # HTTPS (a self-signed certificate), so that the buckets' TLS-only policies hold as in AWS.
  moto_server -H 127.0.0.1 -p "$port" --ssl >"$work/moto.log" 2>&1 &
  moto_pid=$!
  moto="https://127.0.0.1:$port"
  for _ in $(seq 1 100); do
    curl -skf -o /dev/null "$moto/moto-api/" && break
    kill -0 "$moto_pid" 2>/dev/null || { cat "$work/moto.log" >&2; say "moto_server exited"; exit 1; }
    sleep 0.2
  done
  curl -skf -o /dev/null "$moto/moto-api/" || { say "moto_server did not answer within 20 s"; exit 1; }
  export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=eu-west-1 AWS_DEFAULT_REGION=eu-west-1 AWS_EC2_METADATA_DISABLED=true

  # The copy's provider talks to moto and keeps its state locally: an override file, so that the
  # configuration itself is what is applied.
  {
    echo 'terraform {'
    echo '  backend "local" {}'
    echo '}'
    echo 'provider "aws" {'
    echo '  access_key                  = "testing"'
    echo '  secret_key                  = "testing"'
    echo '  skip_credentials_validation = true'
    echo '  insecure                    = true # moto'"'"'s self-signed certificate'
    echo '  skip_metadata_api_check     = true'
    echo '  s3_use_path_style           = true'
    echo '  endpoints {'
    for service in apigatewayv2 cloudfront cloudwatch ecr iam kms lambda logs s3 sagemaker sns sts; do
      echo "    $service = \"$moto\""
    done
    echo '  }'
    echo '}'
  } >"$work/infra/moto_override.tf"
  # What the excluded response-headers policy would have been attached to.
  attached='response_headers_policy_id *= *aws_cloudfront_response_headers_policy\.site\.id'
  grep -q "$attached" "$work/infra/site.tf" || { say "site.tf no longer attaches the response-headers policy: update this script"; exit 1; }
  sed -i "/$attached/d" "$work/infra/site.tf"
  for type in "${!excluded_types[@]}"; do say "excluded: $type: ${excluded_types[$type]}"; done

  # The longest values the variables' validation allows, so every name is at its longest.
  longest() {
    local n
    n="$(grep -o "length(var\.$1) <= [0-9]*" infra/variables.tf | grep -o '[0-9]*$')"
    [ -n "$n" ] || { say "variables.tf: $1 has no length bound"; exit 1; }
    printf '%s' "$2"; printf 'x%.0s' $(seq 1 $((n - ${#2})))
  }
  vars=(-var "name_prefix=$(longest name_prefix moto)" -var "model_version=$(longest model_version v1)"
    -var "endpoint_name=$(longest endpoint_name endpoint)" -var "alarm_email=oncall@example.com")
  start=$SECONDS
  tf 120 init -input=false -reconfigure -plugin-dir="$plugins" >/dev/null

  # As the deploy workflow does: its first apply (the same -targets), the uploads, then all.
  mapfile -t first < <(grep -o -- '-target=[a-z0-9_.]*' .github/workflows/deploy.yml)
  [ "${#first[@]}" -gt 0 ] || { say "deploy.yml has no first, targeted apply"; exit 1; }
  tf 300 apply -input=false -auto-approve -no-color "${vars[@]}" "${first[@]}" >"$work/apply-1.log" 2>&1 ||
    { tail -40 "$work/apply-1.log" >&2; say "the deploy's first apply failed against moto"; exit 1; }
  # The outputs deploy.yml reads after its first apply.
  [ -n "$(tf 60 output -raw ecr_repository_url)" ] || { say "no ecr_repository_url after the first apply"; exit 1; }
  zip_uri="$(tf 60 output -raw lambda_zip_uri)"
  artifact_uri="$(tf 60 output -raw model_artifact_uri)"
  python3 - "$moto" "$zip_uri" "$artifact_uri" <<'PY'
import io, sys, warnings, zipfile
import boto3
warnings.filterwarnings("ignore")  # unverified HTTPS to moto
moto, *uris = sys.argv[1:]
s3 = boto3.client("s3", endpoint_url=moto, verify=False)
# Stand-ins for the deploy's uploads: moto checks the objects exist, it runs nothing.
for uri, name in zip(uris, ["bootstrap", "model.onnx"]):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        z.writestr(name, "stand-in")
    bucket, key = uri.removeprefix("s3://").split("/", 1)
    s3.put_object(Bucket=bucket, Key=key, Body=buffer.getvalue())
PY

  # The state is this run's own, so no step below refreshes it from moto (most of a plan's time).
  tf 300 plan -input=false -no-color -refresh=false "${vars[@]}" -out="$work/plan.out" >"$work/plan.log" 2>&1 ||
    { tail -40 "$work/plan.log" >&2; say "terraform plan failed against moto"; exit 1; }
  tf 60 show -json "$work/plan.out" >"$work/plan.json"
  mapfile -t all < <(jq -r '.resource_changes[] | select(.mode == "managed") | .address' "$work/plan.json"; jq -r '.prior_state.values.root_module.resources[]? | select(.mode == "managed") | .address' "$work/plan.json")
  mapfile -t all < <(printf '%s\n' "${all[@]}" | sort -u)
  targets=()
  late=()
  skipped=0
  for address in "${all[@]}"; do
    if [ -n "${excluded_types[${address%%.*}]:-}" ]; then
      skipped=$((skipped + 1))
    elif [ "${address%%.*}" = "$late_type" ]; then
      late+=("-target=$address")
    else
      targets+=("-target=$address")
    fi
  done
  say "$late_type: applied last and destroyed first (moto refuses requests a Deny names whatever its conditions)"
  tf 600 apply -input=false -auto-approve -no-color -refresh=false -parallelism=20 "${vars[@]}" "${targets[@]}" >"$work/apply-2.log" 2>&1 ||
    { grep -A12 'Error:' "$work/apply-2.log" | head -60 >&2; say "terraform apply failed against moto"; exit 1; }
  tf 300 apply -input=false -auto-approve -no-color -refresh=false "${vars[@]}" "${late[@]}" >"$work/apply-3.log" 2>&1 ||
    { grep -A12 'Error:' "$work/apply-3.log" | head -60 >&2; say "terraform apply of the bucket policies failed against moto"; exit 1; }
  targets+=("${late[@]}")
  say "slowest to create: $(slowest Creation "$work"/apply-*.log)"
  mapfile -t applied < <(tf 60 state list | grep -v '^data\.')
  say "applied to moto: ${#applied[@]} resources of ${#all[@]} (${skipped} excluded) in $((SECONDS - start)) s:"
  printf '%s\n' "${applied[@]}" | sed 's/\..*//' | sort | uniq -c | sed 's/^/check-infra:   /' >&2
  if [ "${#applied[@]}" -ne $((${#all[@]} - skipped)) ]; then
    comm -23 <(printf '%s\n' "${all[@]}" | sort) <(printf '%s\n' "${applied[@]}" | sort) >&2
    say "these were planned but not applied"
    exit 1
  fi
  tf 60 output -json >"$work/outputs.json"
  missing="$(jq -r 'to_entries[] | select((.value.value | tostring) == "" or .value.value == null) | .key' "$work/outputs.json")"
  [ -z "$missing" ] || { say "outputs without a value: $missing"; exit 1; }
  say "outputs: $(jq -r 'keys | join(", ")' "$work/outputs.json")"

  # One source for what the alarms and the dashboard watch: another endpoint name must move every
  # metric with an Endpoint or EndpointName dimension, and leave none watching the old one.
  other="renamed-endpoint"
  tf 300 plan -input=false -no-color -refresh=false "${vars[@]}" -var "endpoint_name=$other" "${targets[@]}" \
    -out="$work/renamed.out" >"$work/renamed.log" 2>&1 ||
    { tail -40 "$work/renamed.log" >&2; say "the plan with another endpoint name failed"; exit 1; }
  tf 60 show -json "$work/renamed.out" >"$work/renamed.json"
  python3 - "$work/renamed.json" "$other" <<'PY'
import json, sys
plan, other = json.load(open(sys.argv[1])), sys.argv[2]
names = {"Endpoint", "EndpointName"}
watched, stale = 0, []
for change in plan["resource_changes"]:
    after = change["change"]["after"] or {}
    if change["type"] == "aws_cloudwatch_metric_alarm":
        dims = [after.get("dimensions") or {}]
        dims += [m["dimensions"] or {} for q in after.get("metric_query") or [] for m in q.get("metric") or []]
        for d in dims:
            for k in names & d.keys():
                watched += 1
                if d[k] != other:
                    stale.append(f"{change['address']}: {k}={d[k]}")
    if change["type"] == "aws_cloudwatch_dashboard":
        for widget in json.loads(after["dashboard_body"])["widgets"]:
            for line in widget["properties"].get("metrics", []):
                pairs = [x for x in line if isinstance(x, str)][2:]
                for k, v in zip(pairs[::2], pairs[1::2]):
                    if k in names:
                        watched += 1
                        if v != other:
                            stale.append(f"dashboard {widget['properties'].get('title')}: {k}={v}")
if stale or watched < 40:
    sys.exit(f"check-infra: after renaming the endpoint, {len(stale)} of {watched} metrics watch another: {stale[:5]}")
print(f"check-infra: renaming the endpoint moves all {watched} alarm and dashboard metrics that name it", file=sys.stderr)
PY

  start=$SECONDS
  # The page's objects are left to the bucket's force_destroy: destroying them one by one leaves
  # delete markers, and moto 5.2.1 fails (500, "FakeDeleteMarker has no attribute dispose") to
  # empty a versioned bucket holding those. So destroy must empty a bucket that still holds
  # files, as it would after any deploy.
  tf 60 state rm 'aws_s3_object.site' 'aws_s3_object.config' >/dev/null
  say "aws_s3_object: left in the site bucket for its force_destroy to delete (moto cannot empty a bucket holding delete markers)"
  tf 300 destroy -input=false -auto-approve -no-color -refresh=false "${vars[@]}" "${late[@]}" >"$work/destroy-1.log" 2>&1 ||
    { grep -A12 'Error:' "$work/destroy-1.log" | head -60 >&2; say "terraform destroy of the bucket policies failed against moto"; exit 1; }
  tf 600 destroy -input=false -auto-approve -no-color -refresh=false -parallelism=20 "${vars[@]}" >"$work/destroy.log" 2>&1 ||
    { grep -A12 'Error:' "$work/destroy.log" | head -60 >&2; say "terraform destroy failed against moto"; exit 1; }
  left="$(tf 60 state list | wc -l)"
  python3 - "$moto" <<'PY'
import sys, warnings
import boto3
warnings.filterwarnings("ignore")  # unverified HTTPS to moto
moto = sys.argv[1]
client = lambda name: boto3.client(name, endpoint_url=moto, verify=False)
left = {
    "buckets": [b["Name"] for b in client("s3").list_buckets()["Buckets"]],
    "repositories": [r["repositoryName"] for r in client("ecr").describe_repositories()["repositories"]],
    "functions": [f["FunctionName"] for f in client("lambda").list_functions()["Functions"]],
    "endpoints": [e["EndpointName"] for e in client("sagemaker").list_endpoints()["Endpoints"]],
}
if any(left.values()):
    sys.exit(f"check-infra: destroy left {left}")
PY
  [ "$left" -eq 0 ] || { say "destroy left $left resources in the state"; exit 1; }
  say "slowest to destroy: $(slowest Destruction "$work"/destroy*.log)"
  say "destroyed: all ${#applied[@]} resources, nothing left in the state or in moto (buckets, repositories, functions, endpoints) in $((SECONDS - start)) s"
else
  say "skipped terraform validate and the moto apply: no hashicorp/aws provider in $plugins (terraform init cannot download one here)"
fi

venv="$cache/checkov-$CHECKOV_VERSION"
if [ ! -x "$venv/bin/checkov" ]; then
  say "installing checkov==$CHECKOV_VERSION from PyPI into $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "checkov==$CHECKOV_VERSION" >&2
fi
"$venv/bin/checkov" --directory infra --config-file infra/.checkov.yaml
say "checkov: ok"
