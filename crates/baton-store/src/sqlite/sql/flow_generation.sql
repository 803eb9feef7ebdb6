SELECT generation FROM flow_changes
