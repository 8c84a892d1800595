"""Ingestion: validating signed events, storing them, folding them into firm profiles."""
