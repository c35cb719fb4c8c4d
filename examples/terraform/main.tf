# The README's Terraform quick start: with `make run` serving the default pipeline.json,
#   SSL_CERT_FILE=$PWD/certs/ca.pem .venv/bin/terraform -chdir=examples/terraform init
terraform {
  required_providers { hello = { source = "localhost:8443/acme/hello" } }
}
module "vpc" {
  source  = "127.0.0.1:8443/acme/vpc/aws"
  version = "~> 1.1.0"
}
