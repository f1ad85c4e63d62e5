"""The Docker-free local stack. Reads template.yaml; never imported by functions/ or layers/."""
