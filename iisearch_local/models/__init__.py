"""Known models (``registry``), their downloads (``pull``, ``transfer``), where they live on disk
(``cache``) and how a name or path becomes loadable weights (``resolve``)."""
