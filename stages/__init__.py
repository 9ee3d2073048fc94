"""DVC stage entry points: thin scripts that parse arguments, load params and call src/spectcontra."""
