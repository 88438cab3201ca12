#!/usr/bin/env bash
# Build the Thresher image with Cloud Build, push it to Artifact Registry and write the flex
# template spec (deploy/dataflow/metadata.json + the image) to Cloud Storage.
#
#   PROJECT=my-project REGION=europe-west4 BUCKET=my-bucket deploy/dataflow/build.sh
#
# Optional: REPOSITORY (default thresher), TAG (default VERSION-GITSHA), IMAGE, TEMPLATE,
# DOCKERFILE (default deploy/dataflow/Dockerfile; deploy/dataflow/Dockerfile.gpu builds the GPU image,
# named thresher-gpu, for the classifier step on GPU workers: see README.md, "GPU workers").
# Needs: roles/cloudbuild.builds.editor, roles/artifactregistry.writer (or .admin to create the
# repository), roles/storage.objectAdmin on the bucket. Prints IMAGE= and TEMPLATE= for run.sh.
set -euo pipefail
cd "$(dirname "$0")/../.."

: "${PROJECT:?set PROJECT}" "${REGION:?set REGION}" "${BUCKET:?set BUCKET (a bucket name, without gs://)}"
REPOSITORY="${REPOSITORY:-thresher}"
VERSION="$(sed -n 's/^ *version="\([^"]*\)".*/\1/p' setup.py)"
TAG="${TAG:-$VERSION-$(git rev-parse --short HEAD 2>/dev/null || date -u +%Y%m%d%H%M%S)}"
DOCKERFILE="${DOCKERFILE:-deploy/dataflow/Dockerfile}"
NAME=thresher
[ "$(basename "$DOCKERFILE")" = Dockerfile.gpu ] && NAME=thresher-gpu
IMAGE="${IMAGE:-$REGION-docker.pkg.dev/$PROJECT/$REPOSITORY/$NAME:$TAG}"
TEMPLATE="${TEMPLATE:-gs://$BUCKET/templates/$NAME-$TAG.json}"

if ! gcloud artifacts repositories describe "$REPOSITORY" --project "$PROJECT" --location "$REGION" >/dev/null 2>&1; then
  gcloud artifacts repositories create "$REPOSITORY" --project "$PROJECT" --location "$REGION" \
    --repository-format docker --description "Thresher images"
fi

# `gcloud builds submit --tag` only builds ./Dockerfile: a one-step build config names ours.
config="$(mktemp)"
trap 'rm -f "$config"' EXIT
cat > "$config" <<YAML
steps:
  - name: gcr.io/cloud-builders/docker
    args: ["build", "-f", "$DOCKERFILE", "-t", "$IMAGE", "."]
images: ["$IMAGE"]
timeout: 3600s
YAML
gcloud builds submit --project "$PROJECT" --config "$config" .

gcloud dataflow flex-template build "$TEMPLATE" \
  --project "$PROJECT" \
  --image "$IMAGE" \
  --sdk-language PYTHON \
  --metadata-file deploy/dataflow/metadata.json

echo "IMAGE=$IMAGE"
echo "TEMPLATE=$TEMPLATE"
