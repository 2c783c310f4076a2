"""The SEN1-2 recipe, stage by stage, read top to bottom as the paper does.

``rois`` (sample the ROIs of a seed) -> ``seasons`` (the four seeds and their windows) ->
``utm`` (each ROI's 10 m grid) -> ``preprocess`` (cut at mean +- 2.5 sigma, scale, stretch) ->
``qc`` (scene QC and patch QC) -> ``tiling`` (256 px at stride 128, the paper's ids) ->
``cog`` (encoding) -> ``thumbnails`` and ``figures`` -> ``splits`` (train / validate / test).
``scene`` runs those stages on one scene; ``summary`` keeps the paper's counts.

Stages are plain functions on arrays and typed records; none imports ``release``, ``api``,
``stream`` or ``cli``.
"""
