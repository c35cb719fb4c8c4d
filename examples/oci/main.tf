# The OCI quick start (README): the example provider, pushed into a local docker-registry with
# `gateway oci push`, installed through the gateway's network mirror (terraform.tfrc).
terraform {
  required_providers {
    hello = { source = "example.com/acme/hello" }
  }
}
