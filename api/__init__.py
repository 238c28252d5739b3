"""The partners' REST API (/api/v1/), its tokens and its webhooks: reads both apps, like partnercenter."""
