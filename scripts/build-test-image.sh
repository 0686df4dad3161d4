#!/usr/bin/env bash
# Build Berth's tiny test image locally (no pull: nothing can be pulled here)
# and push it to the stack's registry.
#
#   berth/testapp:latest                      busybox-static + applet symlinks
#   127.0.0.1:$PORT/demo/app:latest           the same image in the local registry
#
# Engine: DOCKER_HOST, else the one in $BERTH_STACK_DIR/stack.env.
# Registry: BERTH_REGISTRY_URL, else http://127.0.0.1:${BERTH_REGISTRY_PORT:-5000}.
# Idempotent: rebuilds only if the image is missing or /bin/busybox changed,
# pushes only if the registry does not already hold this image.
set -euo pipefail

STACK_ENV=${BERTH_STACK_DIR:-/tmp/berth-stack}/stack.env
if [[ -z ${DOCKER_HOST:-} && -r $STACK_ENV ]]; then
  # shellcheck source=/dev/null
  source "$STACK_ENV"
fi
REGISTRY=${BERTH_REGISTRY_URL:-http://127.0.0.1:${BERTH_REGISTRY_PORT:-5000}}
REGISTRY=${REGISTRY#http://}
IMAGE=berth/testapp:latest
REMOTE=$REGISTRY/demo/app:latest
BUSYBOX=/bin/busybox # from busybox-static: no shared libraries needed in the image
APPLETS=(sh echo sleep cat ls httpd wget seq yes printf env date head tail grep kill true false)
# Ask for the manifest types docker push writes, so the digest matches docker's.
ACCEPT=application/vnd.docker.distribution.manifest.v2+json,application/vnd.oci.image.manifest.v1+json

die() { echo "build-test-image: error: $*" >&2; exit 1; }

[[ -x $BUSYBOX ]] || die "$BUSYBOX missing; run scripts/stack.sh install (busybox-static)"
docker info >/dev/null 2>&1 || die "no Docker Engine at DOCKER_HOST=${DOCKER_HOST:-<unset>}; run scripts/stack.sh start"

# The busybox checksum is stored as a label, so a changed binary triggers a rebuild.
sum=$(sha256sum "$BUSYBOX")
sum=${sum%% *}
built=$(docker image inspect --format '{{index .Config.Labels "berth.busybox.sha256"}}' "$IMAGE" 2>/dev/null || true)
if [[ $built != "$sum" ]]; then
  root=$(mktemp -d)
  trap 'rm -rf "$root"' EXIT
  mkdir -p "$root/bin" "$root/tmp"
  chmod 1777 "$root/tmp"
  cp "$BUSYBOX" "$root/bin/busybox"
  for applet in "${APPLETS[@]}"; do ln -s busybox "$root/bin/$applet"; done
  tar -C "$root" --numeric-owner --owner=0 --group=0 -cf - . |
    docker import --change 'CMD ["sh"]' --change "LABEL berth.busybox.sha256=$sum" - "$IMAGE" >/dev/null
  echo "built $IMAGE"
fi

remote_digest() {
  curl -sfI -m 10 -H "Accept: $ACCEPT" "http://$REGISTRY/v2/demo/app/manifests/latest" |
    tr -d '\r' | awk 'tolower($1) == "docker-content-digest:" {print $2}'
}

docker tag "$IMAGE" "$REMOTE"
digest=$(remote_digest || true)
local_digests=$(docker image inspect --format '{{join .RepoDigests "\n"}}' "$IMAGE")
state="already in the registry"
if [[ -z $digest ]] || ! grep -Fqx "$REGISTRY/demo/app@$digest" <<<"$local_digests"; then
  out=$(docker push "$REMOTE" 2>&1) || die "docker push $REMOTE failed: $out"
  digest=$(remote_digest) || die "pushed, but the registry at $REGISTRY does not list $REMOTE"
  state=pushed
fi
echo "$REMOTE@$digest ($state)"
