"""The statistics work (统计工作, §三(四)二): contacts' monthly visits and the bureau's list by the 28th."""
