"""kstream: the backend of a K-drama streaming site, as Google Cloud functions.

Data flows one way: request -> entry point (main.py) -> contract model (contracts/) -> service -> adapter
(Firestore, Cloud Storage, Transcoder, Pub/Sub, Firebase Auth) -> contract model -> response.
"""
