"""Everything that speaks Qualys: HTTP client, search lists, detections, XML, errors."""
