"""The pages, one module per area: sign-in, dashboard, customers."""
