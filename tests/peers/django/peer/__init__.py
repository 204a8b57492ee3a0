"""The Django REST framework test peer: simplejwt pairs and knox device sessions."""
