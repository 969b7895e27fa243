"""The catalog: videos, series and search over Firestore (spec 3.4 and 3.5).

One module per concern; import from the module that owns a name (this package re-exports nothing, so a function
that needs only :class:`~kstream.catalog.visibility.Viewer` does not import the search engine):

    visibility    statuses (processing, ready, failed) and who sees which video (Viewer)
    documents     a video's stored document <-> its contract form (to_metadata, video_document, ready_tracks)
    videos        get a video; every video write, one transaction with its series (upsert, mark_ready, ...)
    series        the series document's aggregates, kept consistent with its episodes; get a series
    search        answer a search: census, one window, ranking, the page (start here to profile a search)
    search_plan   which Firestore queries and in-memory checks answer a search (pure; the index test walks it)
    pages         the window reader: matches in order from the plan's streams, bounded reads
    cursors       nextPageToken: encode, sign, decode
    search_text   text normalization, search tokens, matching and relevance
    repository    the only module that talks to Firestore (videos and series collections), with a read meter
"""
