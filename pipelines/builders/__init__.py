"""Model -> troposphere Template, one function per stack kind."""
