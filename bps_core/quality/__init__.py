"""Label and data quality: pixel statistics, quality flags, duplicates, outliers, label issues."""
