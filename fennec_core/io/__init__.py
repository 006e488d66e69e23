"""Reading and writing: tables, the Zarr store, the bundled zoo."""
