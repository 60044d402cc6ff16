"""TEST DOUBLE for Bagel's data.data_utils: RGB conversion and special-token set-up."""


def pil_img2rgb(image):
    return image.convert("RGB")


def add_special_tokens(tokenizer):
    new_token_ids = {"bos_token_id": 1, "eos_token_id": 2, "start_of_image": 3, "end_of_image": 4}
    tokenizer.special_tokens_added = True
    return tokenizer, new_token_ids, len(new_token_ids)
