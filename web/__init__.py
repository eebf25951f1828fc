"""The web plumbing the interfaces share: the API's error shape, fields and idempotency
header (api), and the admin's report and action pages (admin_pages)."""
