"""Studies: one package per line of research, holding its methods, its job (the end-to-end run) and its plots."""
