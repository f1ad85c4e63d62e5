"""HTTP glue shared by the API functions: request parsing, problem+json error mapping, responses."""
