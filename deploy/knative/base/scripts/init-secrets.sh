#!/bin/sh
# Creates cutman's generated Secrets when they do not exist; never overwrites one.
# Runs in the cutman-secrets-init Job (kubectl from the cutman image), or by hand:
#   NAMESPACE=cutman sh deploy/knative/base/scripts/init-secrets.sh
set -eu
ns="${NAMESPACE:-cutman}"

random() {
  # $1 random bytes, URL-safe base64 without padding (a 32-byte key -> 43 characters)
  head -c "$1" /dev/urandom | base64 | tr -d '\n=' | tr '+/' '-_'
}

create_once() {
  name="$1"; shift
  if kubectl -n "$ns" get secret "$name" >/dev/null 2>&1; then
    echo "secret $ns/$name exists; kept"
    return 0
  fi
  # Another run may win the race: AlreadyExists is success, never a replace.
  if out=$(kubectl -n "$ns" create secret generic "$name" "$@" 2>&1); then
    echo "secret $ns/$name created"
  elif printf '%s' "$out" | grep -q AlreadyExists; then
    echo "secret $ns/$name exists; kept"
  else
    printf '%s\n' "$out" >&2
    return 1
  fi
}

create_once cutman-approvals --from-literal=key="$(random 32)"
create_once cutman-redis --from-literal=password="$(random 24)"
create_once cutman-api --from-literal=token="$(random 24)"
