"""The verbs that talk to AWS: deploy, diff, status, approve/reject, release, rollback.

boto3 is imported only here (and by the code that runs inside AWS), never on the synth path.
Each verb is one module with one entry function taking the clients and its options, and a
`Reporter` (progress.py) for a verb that takes a while; it returns a result and never prints or
prompts: the command line (pipelines/console.py) shows the progress and the result, and answers
a verb's `confirm` question. The other modules own one thing each: sessions and roles, the
manifest, change sets, the pipeline's state.
"""
