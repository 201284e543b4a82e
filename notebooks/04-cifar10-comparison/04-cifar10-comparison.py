# ---
# jupyter:
#   jupytext:
#     cell_metadata_filter: nbgrader,tags,-all
#     formats: ipynb,py:percent
#     notebook_metadata_filter: kernelspec,jupytext,-all
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown] nbgrader={"cell_type": "markdown", "checksum": "49c55c611673af38111999ed02e393cb", "grade": false, "grade_id": "intro", "locked": true, "schema_version": 3, "solution": false, "task": false}
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/involution-course/involution-course/blob/main/notebooks/04-cifar10-comparison/04-cifar10-comparison.ipynb)
#
# # 04 · CNN against involution on CIFAR-10
#
# *Involution Course, assignment 04. Time: about 2 hours (longer in the full profile).*
#
# ## Learning objectives
#
# By the end of this notebook you will be able to:
#
# 1. reproduce the Keras example's CNN and involution network and their results;
# 2. build a fair comparison at an equal parameter budget with RedNet-style bottleneck blocks;
# 3. evaluate models with learning curves, per-class accuracy and a confusion matrix.
#
# Run the cells in order. Exercises are marked **Exercise**; write your answer where the cell says
# `# YOUR CODE HERE`, then run the tests below it. Visible tests help you; hidden tests run when
# your notebook is graded.

# %% nbgrader={"cell_type": "code", "checksum": "c1fecaf76ba5e4cb8a35416eab3cb2f9", "grade": false, "grade_id": "setup", "locked": true, "schema_version": 3, "solution": false, "task": false}
# Set-up: on Colab this installs the course package; elsewhere it only imports it.
try:
    import involution_course as ic
except ModuleNotFoundError:
    # %pip install -q "involution-course @ git+https://github.com/involution-course/involution-course"
    import involution_course as ic

profile = ic.setup_notebook()
