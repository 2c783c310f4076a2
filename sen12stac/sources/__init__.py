"""Scene sources behind one interface (:class:`sen12stac.models.Source`)."""
