"""The clinician review station: check results against their transcripts, collect labels, measure
agreement in use, and judge a fine-tuned candidate bundle (``docs/review.md``).

It runs on the records workstation that holds the age identity, never on the box; the daemon never
imports it. One concern per module:

* ``results`` — the read-side view of a decrypted result document (any 1.x box);
* ``source`` — finding and decrypting results and archived inputs (in memory only);
* ``highlight`` — where each evidence quote is in the transcript (offsets, else a tolerant search);
* ``queue`` — review order: least certain decisions and a stable random audit sample first;
* ``workspace`` — the reviewer's folder (mode 0700), its settings and its lock;
* ``labels`` — the append-only, fsync'ed label log and its replayed state;
* ``dataset`` — the compacted labelled JSONL that ``appliance evaluate`` and ``appliance-export
  finetune`` read;
* ``agreement`` and ``plot`` — accuracy in use: appliance vs reviewers per feature, over time, warnings;
* ``verdict`` — candidate bundle vs running one on reviewed calls it was not trained on: yes or no;
* ``station`` — the service the web pages call; ``web`` (Flask) and ``server`` (waitress, 127.0.0.1).

Flask, waitress and matplotlib come with the ``review`` extra and are imported only by ``web``,
``server`` and ``plot``.
"""
