"""Test harness for switchyard's integration tests: ports, config templates,
the proxy runner (switchyard or nginx), backend processes and raw clients."""
