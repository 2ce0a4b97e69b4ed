"""诚信履约"回头看" (§四(四)): integrity reviews of projects by 督查室 with 商务局."""
