"""The teacher's tools: running a checkout's notebooks with papermill and summarising them.

Students import `helpers`; nothing here is needed to do the assignment. The command stays
`python -m helpers.grade` (helpers/grade.py is a thin entry point).
"""
