"""Scale-out backends (extra ``scale``): PostgreSQL product store, Milvus vector store, Ray batch
indexing, and stateless service replicas over them.

The embedded defaults (SQLite + FAISS in one process) stay the default; an index built with
``StoreConfig(products="postgres", vectors="milvus")`` keeps its products and change log in
PostgreSQL and its vectors in Milvus, and any number of service replicas load it and follow
each other's writes (:mod:`shopsearch.scale.replica`). The search path is the Engine's own:
the Milvus collection is wrapped in an adapter with the :class:`~shopsearch.index.dense.DenseIndex`
interface.
"""
