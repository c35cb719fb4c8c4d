# acme/vpc/aws 1.2.0: an example module served by gateway's directory source.
variable "name" {
  type    = string
  default = "example"
}

output "name" {
  value = var.name
}

output "module_version" {
  value = "1.2.0"
}
