"""Who answers for the assets of this project (shown as the owner of every asset in the Dagster UI)."""

OWNER = "team:data-engineering"
