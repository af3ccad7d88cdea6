"""The offline model kit: assemble, verify (sha256) and locate weights carried by registry packages."""
