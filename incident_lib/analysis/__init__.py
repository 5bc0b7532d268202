"""Pure analysis functions over DataFrames: no I/O, no plotting (see DESIGN.md)."""
