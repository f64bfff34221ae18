"""Index stage: versioned index directories holding the product store, dense and lexical indexes."""
