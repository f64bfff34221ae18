"""One router per resource: search, products, feedback, images, ops (health, metrics), ui."""
