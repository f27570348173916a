"""The sequence models of the lecture, built on autograd_mini (arriving with the models issue)."""
