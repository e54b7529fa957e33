"""Students: a locally trained tokenizer with a chat template, and Qwen2 models built from config.

A real study names Hugging Face checkpoints (`init: pretrained`); the tiny study builds
Qwen2ForCausalLM students from dimensions with random initialisation, saved as normal checkpoints
that `AutoModelForCausalLM.from_pretrained` loads — so training and evaluation code never know
which kind they got.

Tokenizer: byte-level BPE trained with the `tokenizers` library on the world's text, with exactly
Qwen2's normaliser and pre-tokenizer (digits one by one, words split from spaces). It must match:
transformers 5 loads any `qwen2` checkpoint's tokenizer as `Qwen2Tokenizer`, which rebuilds that
pipeline around the saved vocabulary and merges, so a tokenizer trained differently would encode
differently once saved and reloaded (tests check the round trip).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ponder.config import StudentConfig, StudyConfig
from ponder.rundir import atomic_dir

SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
THINK = ["<think>", "</think>"]

# Qwen-style ChatML. `{% generation %}` marks assistant text so transformers can return an
# assistant-token mask; the thinking block is part of the assistant's content (trained on).
CHAT_TEMPLATE = (
    "{%- for message in messages -%}"
    "{%- if message['role'] == 'assistant' -%}"
    "{{ '<|im_start|>assistant\\n' }}{% generation %}{{ message['content'] + '<|im_end|>' }}"
    "{% endgeneration %}{{ '\\n' }}"
    "{%- else -%}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '<|im_start|>assistant\\n' }}{%- endif -%}"
)


def build_tokenizer(texts: list[str], vocab_size: int = 512, phrases: Sequence[str] = ()):
    """Train a byte-level BPE on `texts`; return a PreTrainedTokenizerFast with the chat template.

    `phrases` become single added tokens, like chat-template control tokens: the tiny world's
    fixed Table 4 instructions (~25 word tokens each) would otherwise be most of every prompt,
    costing CPU time and burying the question for a 0.1M-parameter student.
    """
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast
    from transformers.models.qwen2.tokenization_qwen2 import PRETOKENIZE_REGEX

    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(PRETOKENIZE_REGEX), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL + THINK,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    # The chat template's role names are in every example: give them whole tokens.
    roles = ["user", "assistant", "system"] * 64
    tok.train_from_iterator(list(texts) + roles, trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        additional_special_tokens=["<|im_start|>", "<|im_end|>"],
        clean_up_tokenization_spaces=False,
        padding_side="right",
    )
    fast.chat_template = CHAT_TEMPLATE
    if phrases:
        from tokenizers import AddedToken

        fast.add_tokens([AddedToken(p, normalized=False, special=False) for p in phrases])
    return fast


def _qwen2_config(s: StudentConfig, tokenizer):
    from transformers import Qwen2Config

    return Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=s.hidden_size,
        intermediate_size=s.intermediate_size,
        num_hidden_layers=s.num_hidden_layers,
        num_attention_heads=s.num_attention_heads,
        num_key_value_heads=s.num_key_value_heads,
        max_position_embeddings=s.max_position_embeddings,
        tie_word_embeddings=True,
        initializer_range=s.initializer_range or s.hidden_size**-0.5,
        rope_theta=10_000.0,
        bos_token_id=tokenizer.convert_tokens_to_ids("<|im_start|>"),
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )


def count_parameters(student: StudentConfig, tokenizer) -> int:
    """Parameters of a scratch student, counted from the model built on the meta device."""
    import torch
    from transformers import Qwen2ForCausalLM

    with torch.device("meta"):
        model = Qwen2ForCausalLM(_qwen2_config(student, tokenizer))
    return sum(p.numel() for p in model.parameters())


def init_student(student: StudentConfig, tokenizer, out_dir: Path, seed: int = 0) -> Path:
    """Save a random-init Qwen2 student + tokenizer as a HF checkpoint at `out_dir` (atomically,
    replacing whatever is there: the runner decides when an init is due, never this function)."""
    import torch
    from transformers import GenerationConfig, Qwen2ForCausalLM

    torch.manual_seed(seed)
    model = Qwen2ForCausalLM(_qwen2_config(student, tokenizer))
    model.generation_config = GenerationConfig(
        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id
    )

    def fill(tmp: Path) -> None:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)

    return atomic_dir(Path(out_dir), fill)


def tokenizer_for_study(cfg: StudyConfig, pairs: list[Path]):
    """The scratch students' shared tokenizer, trained on the world's text and on up to 20,000
    rows of each given pairs file (prompts and both answers: domains with other sources)."""
    import pandas as pd

    from ponder.tiny import solver, world

    texts = solver.corpus(cfg.world.seed)
    for path in pairs:
        df = pd.read_parquet(path, columns=["prompt", "ift", "reasoning"]).head(20_000)
        texts += [t for col in df.columns for t in df[col].astype(str)]
    uses_world = any(d.source.kind == "world" for d in cfg.domains.values())
    vocab = max(s.vocab_size for s in cfg.students)
    return build_tokenizer(texts, vocab, world.INSTRUCTION_PHRASES if uses_world else ())


def checkpoint_params(path: str | Path) -> int:
    """Parameter count of a saved checkpoint, from its config (no weights loaded)."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    cfg = AutoConfig.from_pretrained(path)
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(cfg)
    return sum(p.numel() for p in model.parameters())
