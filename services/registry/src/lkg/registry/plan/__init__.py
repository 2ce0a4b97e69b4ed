"""The plan workbook (《重大产业项目推进计划》): the register exported to Excel, and a plan imported back
through the project use cases. See docs/registry.md."""
