"""The archive: incident folders and their runs (`store`), archives at fsspec URLs
(`remote`), and the papermill runs that fill them (`execute`)."""
