"""The dev bank: example questions of each kind that the router's patterns were
built on and that its embedding vote compares a new question with.

The held-out bank that measures routing (``tests/data/ask_questions.json``) was
written separately and is never read here; keep the two apart, or the routing
accuracy it reports stops meaning anything.
"""

from __future__ import annotations

__all__ = ["DEV_QUESTIONS", "OFF_TOPIC"]

DEV_QUESTIONS: dict[str, tuple[str, ...]] = {
    "where": (
        "where does the model represent the day of the week?",
        "Which layer encodes whether a word is a verb?",
        "where is sentiment represented in this model?",
        "In which layer is the concept of plural nouns most linearly readable?",
        "Where are dates stored in the residual stream?",
        "at which layer does the model know that a token is inside a string?",
        "How deep in the network is the tense of a verb encoded?",
        "Where does the model keep track of whether we are inside parentheses?",
        "Which layers best represent capitalised words?",
        "Is the notion of a country name linearly decodable, and where?",
        "where in the network are years represented?",
        "At which depth can a probe read off whether a token is a digit?",
    ),
    "component": (
        "what does mlp:2:5 do?",
        "What is attn:1:0 doing?",
        "Explain mlp:12:340",
        "what is the function of neuron 7 in layer 2?",
        "Describe what attention head 4 in layer 9 does",
        "What does sae:res6:1200 fire on?",
        "What is the job of layer 3 neuron 88?",
        "what role does mlp:20:1001 play?",
        "Tell me about mlp:0:12",
        "Investigate attn:14:6",
        "What does resid:8:3 capture?",
        "what does unit mlp:4:4 respond to?",
    ),
    "behaviour": (
        "which components cause 'Hello, my name' to predict ' is'?",
        "Which layers make the model continue 'import numpy as' with ' np'?",
        "what is responsible for the model predicting ' dog' after 'The cat chased the'?",
        "Why does the model output ' 4' after '2 + 2 ='?",
        "Which heads are needed to predict ']' in 'x = [1, 2, 3'?",
        "Which parts of the model lead 'for i in' to be followed by ' range'?",
        "What makes the model say ' Berlin' for 'The capital of Germany is'?",
        "Which MLP layers drive the completion of 'Once upon a' with ' time'?",
        "Find the layers behind the prediction ' False' in 'return True if x else'",
        "Which components does the model use to complete 'January, February,' with ' March'?",
    ),
    "related": (
        "which features relate to sarcasm?",
        "Which neurons are about file paths?",
        "find features that respond to quotation marks",
        "Are there any units that detect Python function definitions?",
        "Show me neurons associated with dates",
        "What features have to do with loops?",
        "list the neurons that fire on French words",
        "which features are related to the word 'import'?",
        "Do any features track brackets?",
        "Search for neurons about numbers",
    ),
}

# Questions that are not about the model's internals: the router should refuse them.
OFF_TOPIC: tuple[str, ...] = (
    "tell me a joke",
    "what is the weather like today?",
    "write a poem about the sea",
    "how do I install numpy?",
    "translate hello into French",
    "what is 2 + 2?",
)
